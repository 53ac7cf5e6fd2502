var conn = new SqlConnection("Server=sql01.internal;Database=Orders;User Id=orders_app;Password=bVkPO4?dF?qOnT;Encrypt=True;");
