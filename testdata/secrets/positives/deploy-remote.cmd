@echo off
rem Deploys the build to the Windows agents (run from the CI job).
set AGENT=\\build-agent-07
%TOOLS%\PsExec64.exe %AGENT% -accepteula -u CORP\svc_release -p Tq6wZr3Nv8Lx -h -c deploy.cmd
if %ERRORLEVEL% NEQ 0 exit /b 1
