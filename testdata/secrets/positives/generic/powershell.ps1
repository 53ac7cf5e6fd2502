$secure = ConvertTo-SecureString "4bXm5HC#vT4u6O#R" -AsPlainText -Force
$cred = New-Object PSCredential("svc_backup", $secure)
