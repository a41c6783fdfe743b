package main

import (
	"fmt"
	"os"
)

func main() {
	mode := "api"
	if len(os.Args) > 1 {
		mode = os.Args[1]
	}
	fmt.Println("server:", mode)
}
