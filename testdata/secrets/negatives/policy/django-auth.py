AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
]
PASSWORD_RESET_TIMEOUT = 259200
SESSION_COOKIE_NAME = "sessionid_v2"
CSRF_COOKIE_NAME = "csrftoken_v2"
