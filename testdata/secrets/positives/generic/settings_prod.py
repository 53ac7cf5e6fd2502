DEBUG = False
SECRET_KEY = "kVM7HM+D_u5YoG!giOQ5rkF%EaGQ#z1b5Z!S(hVmrKu&CrQDy@"
ALLOWED_HOSTS = ["app.example.org"]
