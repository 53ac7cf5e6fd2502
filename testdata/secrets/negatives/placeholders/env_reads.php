<?php
$apiKey = getenv('ACME_API_KEY');
$password = $_ENV['DB_PASSWORD'] ?? '';
$secret = env('APP_SECRET');
define('AUTH_KEY', getenv('WP_AUTH_KEY'));
define('SECURE_AUTH_KEY', 'put your unique phrase here');
$config['token'] = $_SERVER['HTTP_X_AUTH_TOKEN'];
