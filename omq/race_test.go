//go:build race

package omq_test

const raceEnabled = true
