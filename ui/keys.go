package ui

import "github.com/charmbracelet/bubbles/key"

// keyMap lists every binding; the help overlay is generated from it, so a
// binding cannot exist without being documented.
type keyMap struct {
	PlayPause, StepForward, StepBack, ScrubBack, ScrubForward, First, Last key.Binding
	Faster, Slower                                                         key.Binding
	Controls, ControlUp, ControlDown, ControlDec, ControlInc               key.Binding
	Reroll, Restart, Heat, Theme, NextModel                                key.Binding
	Edit, Apply, Cancel                                                    key.Binding
	Inspect, CursorLeft, CursorRight, CursorUp, CursorDown, NextPane       key.Binding
	Pin, Remask                                                            key.Binding
	SaveTrace, Record                                                      key.Binding
	ScrollUp, ScrollDown                                                   key.Binding
	Help, Quit                                                             key.Binding
}

func newKeyMap() keyMap {
	b := func(keys []string, k, h string) key.Binding {
		return key.NewBinding(key.WithKeys(keys...), key.WithHelp(k, h))
	}
	return keyMap{
		PlayPause:    b([]string{" "}, "space", "play / pause"),
		StepForward:  b([]string{".", "right", "l"}, "→/.", "step forward"),
		StepBack:     b([]string{",", "left", "h"}, "←/,", "step back"),
		ScrubBack:    b([]string{"["}, "[", "back 10 steps"),
		ScrubForward: b([]string{"]"}, "]", "forward 10 steps"),
		First:        b([]string{"home", "g"}, "home/g", "first step"),
		Last:         b([]string{"end", "G"}, "end/G", "last step"),
		Faster:       b([]string{"+", "="}, "+", "faster"),
		Slower:       b([]string{"-", "_"}, "-", "slower"),

		Controls:    b([]string{"tab"}, "tab", "focus controls"),
		ControlUp:   b([]string{"up", "k"}, "↑/k", "previous control"),
		ControlDown: b([]string{"down", "j"}, "↓/j", "next control"),
		ControlDec:  b([]string{"left", "h", "-"}, "←/h", "decrease"),
		ControlInc:  b([]string{"right", "l", "+", "="}, "→/l", "increase"),
		Reroll:      b([]string{"r"}, "r", "reroll seed"),
		Restart:     b([]string{"R"}, "R", "restart generation"),
		Heat:        b([]string{"c"}, "c", "heat colours on/off"),
		Theme:       b([]string{"T"}, "T", "next theme"),
		NextModel:   b([]string{"m"}, "m", "next model"),

		Edit:   b([]string{"e"}, "e", "edit prompt"),
		Apply:  b([]string{"ctrl+s"}, "ctrl+s", "apply prompt"),
		Cancel: b([]string{"esc"}, "esc", "close / cancel"),

		Inspect:     b([]string{"i"}, "i", "inspector on/off"),
		CursorLeft:  b([]string{"left", "h"}, "←/h", "previous token"),
		CursorRight: b([]string{"right", "l"}, "→/l", "next token"),
		CursorUp:    b([]string{"up", "k"}, "↑/k", "line up"),
		CursorDown:  b([]string{"down", "j"}, "↓/j", "line down"),
		NextPane:    b([]string{"p"}, "p", "inspect next pane"),
		Pin:         b([]string{"1", "2", "3", "4", "5"}, "1-5", "pin candidate (steer)"),
		Remask:      b([]string{"x"}, "x", "re-mask token (steer)"),

		SaveTrace: b([]string{"S"}, "S", "save trace (.jsonl)"),
		Record:    b([]string{"V"}, "V", "record screen (.cast) on/off"),

		ScrollUp:   b([]string{"pgup"}, "pgup", "scroll text up"),
		ScrollDown: b([]string{"pgdown"}, "pgdn", "scroll text down"),
		Help:       b([]string{"?"}, "?", "help"),
		Quit:       b([]string{"q", "ctrl+c"}, "q", "quit"),
	}
}

// ShortHelp is the one-line hint under the canvas.
func (k keyMap) ShortHelp() []key.Binding {
	return []key.Binding{k.PlayPause, k.StepBack, k.StepForward, k.Controls, k.Inspect, k.Edit, k.Help, k.Quit}
}

// FullHelp is the help overlay, one column per group.
func (k keyMap) FullHelp() [][]key.Binding {
	return [][]key.Binding{
		{k.PlayPause, k.StepForward, k.StepBack, k.ScrubBack, k.ScrubForward, k.First, k.Last, k.Faster, k.Slower, k.ScrollUp, k.ScrollDown},
		{k.Controls, k.ControlUp, k.ControlDown, k.ControlDec, k.ControlInc, k.Reroll, k.Restart, k.NextModel, k.Heat, k.Theme},
		{k.Inspect, k.CursorLeft, k.CursorRight, k.CursorUp, k.CursorDown, k.NextPane, k.Pin, k.Remask},
		{k.Edit, k.Apply, k.Cancel, k.SaveTrace, k.Record, k.Help, k.Quit},
	}
}
