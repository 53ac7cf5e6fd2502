class AuthState {
  final String? token;
  final String password;
  const AuthState({this.token, required this.password});
}

Future<String> login(String password) async {
  final secret = await storage.read(key: 'api_secret');
  final token = await api.login(password: password, secret: secret);
  return token;
}
