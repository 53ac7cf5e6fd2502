String sql = "ALTER USER " + quote(user) + " IDENTIFIED BY " + quoteLiteral(password);
jdbc.update("CREATE USER ? IDENTIFIED BY ?", user, password);
PreparedStatement ps = conn.prepareStatement("UPDATE accounts SET password = ? WHERE id = ?");
