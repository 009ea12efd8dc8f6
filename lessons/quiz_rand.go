package lessons

// quizRand is the quiz's own pseudo-random generator: splitmix64 on a
// uint64 state. It is defined here, bit for bit, so that a seed gives the
// same exercise with every Go version, natively and in WebAssembly (the
// standard library's generators promise no such thing).
type quizRand struct{ state uint64 }

// The streams a quiz draws from: the machine and the accesses do not depend
// on which questions are asked, so `-kind refs` and `-kind any` with one
// seed show the same guest and the same accesses.
const (
	streamMachine   = 1
	streamAccesses  = 2
	streamQuestions = 3
)

// newQuizRand returns the generator of one stream of a seed.
func newQuizRand(seed uint64, stream uint64) *quizRand {
	r := &quizRand{state: seed ^ stream*0xd1b54a32d192ed03}
	r.next() // decorrelate neighbouring seeds before the first draw
	return r
}

// next returns the next 64 random bits (splitmix64).
func (r *quizRand) next() uint64 {
	r.state += 0x9e3779b97f4a7c15
	z := r.state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// intn returns a number in [0, n); 0 when n <= 0. The slight modulo bias
// does not matter for exercises, and keeps the arithmetic obvious.
func (r *quizRand) intn(n int) int {
	if n <= 0 {
		return 0
	}
	return int(r.next() % uint64(n))
}

// below returns a number in [0, n) for a 64-bit n; 0 when n is 0.
func (r *quizRand) below(n uint64) uint64 {
	if n == 0 {
		return 0
	}
	return r.next() % n
}

// chance is true pct times in a hundred.
func (r *quizRand) chance(pct int) bool { return r.intn(100) < pct }
