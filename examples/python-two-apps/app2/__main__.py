print("app2: batch job done")
