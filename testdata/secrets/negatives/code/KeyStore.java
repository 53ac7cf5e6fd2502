KeyStore ks = KeyStore.getInstance("PKCS12");
char[] storePassword = System.console().readPassword("Keystore password: ");
ks.load(new FileInputStream(path), storePassword);
Key key = ks.getKey(alias, storePassword);
SecretKeySpec secretKey = new SecretKeySpec(keyBytes, "AES");
String token = Base64.getUrlEncoder().withoutPadding().encodeToString(random);
