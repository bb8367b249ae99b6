package main

import "fmt"

// sum adds the numbers in xs.
func sum(xs []int) int {
	total := 0
	for _, x := range xs {
		__FILL_1__
	}
	return total
}

func main() {
	fmt.Println(sum([]int{1, 2, 3}))
}
