@echo off
set DB_PW=%DB_PW%
sqlcmd -S %DB_HOST% -U %DB_USER% -P %SQL_PW% -i migrate.sql
setx API_TOKEN "%API_TOKEN%"
