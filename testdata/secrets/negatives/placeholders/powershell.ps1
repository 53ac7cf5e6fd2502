$password = Read-Host -AsSecureString "Password"
$apiKey = $env:ACME_API_KEY
$secret = (Get-Secret -Name 'ci-token' -AsPlainText)
$cred = New-Object System.Management.Automation.PSCredential ($user, $password)
$token = $Env:SYSTEM_ACCESSTOKEN
