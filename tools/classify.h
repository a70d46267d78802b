/* classify.c - `threatbl classify`: judge a saved Criminal IP report by hand.
 *
 * Reads one report (a file, or standard input), judges it as the daemon would
 * (criminalip_judge, criminalip_classify) and prints each category with the evidence
 * behind it, taken from the same facts the daemon stores with a verdict. */
#ifndef THREATBL_CLASSIFY_H
#define THREATBL_CLASSIFY_H

/* argv[0] is "classify". Returns the tool's exit status: 0 clean, 1 listed, 2 error
 * (also a report that is no verdict). */
int classify_main(int argc, char **argv);

#endif
