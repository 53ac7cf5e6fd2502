class Account < ApplicationRecord
  has_secure_password
  has_secure_token :api_token
  validates :password, length: { minimum: 12 }, if: :password_digest_changed?

  def regenerate_secret!
    update!(secret_key: SecureRandom.hex(32))
  end
end
