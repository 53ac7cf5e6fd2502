SET @pw = (SELECT value FROM bootstrap.params WHERE name = 'app_password');
SET @sql = CONCAT('CREATE USER ''app''@''%'' IDENTIFIED BY ''', @pw, '''');
PREPARE stmt FROM @sql;
EXECUTE stmt;
ALTER USER 'app'@'%' IDENTIFIED BY ?;
CREATE USER IF NOT EXISTS 'ci'@'localhost' IDENTIFIED WITH auth_socket;
