SECRET_KEY = 'django-insecure--+4@5aez732pgojj7*g_(^+3f9)caio!c^-ti%q7%1(+hget7@'
DEBUG = False
