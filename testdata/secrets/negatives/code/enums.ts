export enum TokenKind {
  AccessToken = 'access_token',
  RefreshToken = 'refresh_token',
  IdToken = 'id_token',
}
export const SECRET_FIELDS = ['password', 'secret', 'token', 'apiKey', 'clientSecret'] as const;
export const passwordPattern = /^(?=.*[A-Z])(?=.*\d).{12,}$/;
