# settings read from other objects, not literals
token = self.session.token2
api_key = cfg.API_KEY_V2
secret = settings.Secrets.Primary2
auth = request.headers.Authorization1
