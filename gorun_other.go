//go:build !linux

package main

func followGoRun() {}
