package search

import "testing"

func TestWords(t *testing.T) {
	for text, want := range map[string]int{
		"":                            0,
		"预算":                          2,
		"The BUDGET is tight":         4,
		"预算 approval takes two weeks": 6,
		"报价是１２０万，含ＶＡＴ":                7,
		"<b>Special</b> & characters": 4,
	} {
		if got := Words(text); got != want {
			t.Errorf("Words(%q) = %d, want %d", text, got, want)
		}
	}
}

func TestScoreShape(t *testing.T) {
	if TermWeight(0) != 0 || TermWeight(1) != 1 {
		t.Errorf("TermWeight(0), (1) = %v, %v", TermWeight(0), TermWeight(1))
	}
	for n := 2; n <= MaxCountedOccurrences; n++ {
		if TermWeight(n) <= TermWeight(n-1) || TermWeight(n)-TermWeight(n-1) >= TermWeight(n-1)-TermWeight(n-2) {
			t.Errorf("TermWeight(%d) = %v does not rise and saturate", n, TermWeight(n))
		}
	}
	if TermWeight(MaxCountedOccurrences+5) != TermWeight(MaxCountedOccurrences) {
		t.Error("occurrences past the bound count")
	}
	if got := Norm("one two three four five six seven eight nine ten"); got < 0.9999 || got > 1.0001 {
		t.Errorf("Norm of 10 words = %v, want 1", got)
	}
	if !(Norm("预算") > Norm("我们今年的预算有限") && Norm("我们今年的预算有限") > Norm("关于今年的预算我们还需要和财务部门以及老板再仔细地讨论一下")) {
		t.Error("Norm does not fall with length")
	}
}
