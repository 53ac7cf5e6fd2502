object Secrets {
    const val API_KEY = "Prwkea43nNk48w1z5r5hMx2glrR6Ggq0wEjq5xH"
}
