mysql -h db.internal -u root --password q1G0KmhD~hed5r < schema.sql
