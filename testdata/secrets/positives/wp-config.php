<?php
define( 'DB_NAME', 'wordpress' );
define( 'DB_USER', 'wp' );
define( 'DB_PASSWORD', 'myqoYMaaItDr9u!' );
define( 'AUTH_KEY', '=F8&E)Fd0,Nhcy@:=1kGD;2VD@e|R1U/YzaL#iA@zNyD7CHLn~@>xC!1;h}sYgBd' );
