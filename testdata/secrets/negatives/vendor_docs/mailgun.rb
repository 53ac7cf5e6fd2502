# Mailgun example (replace the placeholders)
mg_client = Mailgun::Client.new('key-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx', 'api.mailgun.net', 'v3')
message_params = { from: 'bob@sending_domain.com', to: 'sally@example.com', subject: 'Hi' }
