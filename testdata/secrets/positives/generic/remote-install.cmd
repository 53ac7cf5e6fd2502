@echo off
rem Push the agent to the build hosts.
for %%H in (build01 build02) do (
  PsExec.exe \\%%H -accepteula -u CORP\svc-deploy -p Rb7!kQ2mZx9w -s -d c:\tools\agent-install.cmd
)
