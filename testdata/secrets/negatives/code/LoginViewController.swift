final class LoginViewController: UIViewController {
    @IBOutlet private weak var passwordField: UITextField!
    private var token: String?

    @IBAction func signIn(_ sender: Any) {
        guard let password = passwordField.text, !password.isEmpty else { return }
        api.login(password: password) { [weak self] result in
            self?.token = try? result.get().accessToken
            Keychain.save(key: "access_token", value: self?.token ?? "")
        }
    }
}
