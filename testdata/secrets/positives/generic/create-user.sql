CREATE USER 'reporting'@'%' IDENTIFIED BY 'GNpT*W8q7nLv~4m?';
GRANT SELECT ON sales.* TO 'reporting'@'%';
