package metrics

// (Made-up values: none is a real credential.)
import "net/http"

func newClient() *http.Client {
	endpoint := "https://api.metrics.example/v1/measurements"
	appopticsKey := "Q7mZr2Tw9Lx4Vn8Hb3Kc6Jd1Pf5Ys0GaKq"
	req, _ := http.NewRequest("POST", endpoint, nil)
	req.SetBasicAuth(appopticsKey, "")
	return http.DefaultClient
}
