import tbltest
if __name__ == "__main__":
    tbltest.main()
