API_KEY = ENV["ACME_API_KEY"]
SECRET_KEY_BASE = ENV.fetch("SECRET_KEY_BASE")
password = Rails.application.credentials.dig(:db, :password)
token = ENV['GITHUB_TOKEN'] || raise('GITHUB_TOKEN not set')
