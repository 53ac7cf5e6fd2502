Partner.configure do |c|
  c.api_key = "f00656feba749cc0c4fcec23495e1f9a"
  c.endpoint = "https://partner.internal"
end
