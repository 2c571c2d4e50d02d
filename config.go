package main

// wellKnownPeers are the course's seed hosts: the way into the course
// network. -peers replaces them (labs, tests, other networks).
var wellKnownPeers = []string{
	"silicon.cs.umanitoba.ca:8999",
	"eagle.cs.umanitoba.ca:8999",
	"hawk.cs.umanitoba.ca:8999",
	"grebe.cs.umanitoba.ca:8999",
	"goose.cs.umanitoba.ca:8999",
}

// Defaults of the course network. Its timings are peer.CourseTimings and
// the bounds of every table peer.DefaultLimits (docs/robustness.md,
// "Bounded memory").
const (
	defaultPort       = 8993
	defaultDifficulty = 8 // 9 on the course's competition network
)
