curl -u deploy:nWbI~GWcOsdh8sqe -T build.tar.gz https://nexus.internal/repository/raw/
