<?php
$db = new PDO('mysql:host=db.internal;dbname=cms', 'cms', 'co4U7kG##DA*?5');
$password = "u7ZvLq9hb!Xkk";
