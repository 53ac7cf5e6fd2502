const apiKey = process.env.ACME_API_KEY ?? "";
const token = localStorage.getItem("token");

export async function fetchUser(id: string) {
  const res = await fetch(`/api/users/${id}`, {
    headers: { Authorization: `Bearer ${token}`, "X-Api-Key": apiKey },
  });
  return res.json();
}

export const PASSWORD_MIN_LENGTH = 12;
export const passwordPlaceholder = "Enter your password";
const tokenRegex = /^[A-Za-z0-9_-]{20,}$/;
