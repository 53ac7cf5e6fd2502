docker run -d --name api \
  -e DATABASE_PASSWORD=*9#0x#W?816HX!0y \
  -e API_TOKEN=kmTstzluPyAkfNAO8XFQ3sR4Kos9CW1tQSc8DDJ1 \
  -p 8080:8080 ghcr.io/acme/api:1.4.2
