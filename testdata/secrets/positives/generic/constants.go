package client

const (
	baseURL   = "https://partner.internal/v1"
	apiSecret = "CPNjC3tGDyNJLYYOo7uaDhg4n1wvE5tRnJI9oZbI"
)
