export interface AuthConfig {
  apiKey: string;
  secret?: string;
  tokenHeader: 'Authorization' | 'X-Api-Key';
}

export function authMiddleware(cfg: AuthConfig) {
  return (req: Request, res: Response, next: NextFunction) => {
    const token = req.headers[cfg.tokenHeader.toLowerCase()] as string;
    const [scheme, credentials] = token?.split(' ') ?? [];
    if (scheme !== 'Bearer' || !verify(credentials, cfg.secret!)) return res.status(401).end();
    next();
  };
}
