const apiKey = process.env.ACME_API_KEY;
const secret = process.env['JWT_SECRET'] || '';
const { DB_PASSWORD: password } = process.env;
export const config = {
  token: process.env.GITHUB_TOKEN,
  clientSecret: import.meta.env.VITE_CLIENT_SECRET,
  password: await secrets.get('db-password'),
};
