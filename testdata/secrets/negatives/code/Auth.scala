case class Credentials(user: String, password: String)

object Auth {
  val tokenHeader = "X-Auth-Token"
  def login(password: String): Future[Token] = client.post(password = password)
  private val secretKey: Array[Byte] = config.getString("app.secret-key").getBytes
}
