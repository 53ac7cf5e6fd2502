# Replace with your own token (the one below is the format only)
export GH_TOKEN=ghp_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789
export GITLAB_TOKEN=glpat-xxxxxxxxxxxxxxxxxxxx
export NPM_TOKEN=npm_0000000000000000000000000000000000000
