ActionMailer::Base.smtp_settings = {
  user_name: 'apikey',
  password: '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'
}
