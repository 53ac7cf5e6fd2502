package settings

// Defaults compiled into the binary (values made up).
var (
	apiBase  string = "https://api.example.com/v2"
	apiToken string = "Vn3LqZ8wT2kR7yXc4HbM9pDs"
)

var dbPassword string = "Hq7wP2mZx4"
