# From the payments integration guide: test-mode keys shown in the docs.
require 'stripe'
Stripe.api_key = ENV.fetch('STRIPE_API_KEY')

# Stripe.api_key = 'sk_test_your_key_here'
# publishable: pk_test_your_key_here
session = Stripe::Checkout::Session.create(
  mode: 'payment',
  success_url: 'https://example.com/success?session_id={CHECKOUT_SESSION_ID}',
)
