resource "aws_db_instance" "reporting" {
  engine   = "postgres"
  username = "reporting"
  password = "GMT~ouKGq4I+pNakSxqL"
}
