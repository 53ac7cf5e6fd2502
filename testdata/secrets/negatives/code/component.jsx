export function LoginForm({ onSubmit }) {
  const [password, setPassword] = useState("");
  const [token, setToken] = useState(null);
  return (
    <form onSubmit={onSubmit}>
      <input type="password" name="password" value={password} onChange={(e) => setPassword(e.target.value)} />
      <input type="hidden" name="authenticity_token" value="{{ authenticity_token }}" />
      <p>Forgot your password? We will email a reset token.</p>
    </form>
  );
}
