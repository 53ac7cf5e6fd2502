-- Run by the provisioning job; the password is bound at run time.
CREATE USER app_rw IDENTIFIED BY :app_password;
CREATE USER app_ro IDENTIFIED BY :ro_password DEFAULT TABLESPACE users;
ALTER USER reporting IDENTIFIED BY &&reporting_pw;
CREATE USER ops IDENTIFIED EXTERNALLY;
GRANT CONNECT TO app_rw;
